import json
import re

import pytest

from harness.domains import get_domain, is_unseen, usable_subjects
from harness.domains.anime import TEMPLATE_VERSION, subject_of, table_of
from harness.domains.anime_catalogue import AnimeRecord, read_catalogue_csv
from harness.evalsets import (
    EvalsetError,
    QAItem,
    build_evalset,
    load_evalset,
    write_evalset,
)
from harness.synthetic import generate_catalogue

ANIME = get_domain("anime")


def synthetic(rows: int, table_seed: int, /, **options):
    """The evalset of the synthetic anime table of `rows` rows made with `table_seed`."""
    return build_evalset(ANIME, table_of(generate_catalogue(rows, table_seed)), **options)


@pytest.fixture(scope="module")
def synthetic_evalset():
    return synthetic(400, 1, name="t", seed=1)


def test_rebuild_is_byte_identical(tmp_path):
    for out in ("a", "b"):
        write_evalset(synthetic(150, 2, name="same", seed=2), tmp_path / out)
    for name in ("train.jsonl", "eval.jsonl", "lexicon.json", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_unseen_assignment_depends_on_subject_id_only():
    assert [is_unseen("anime", i, 0.2) for i in range(50)] == [is_unseen("anime", i, 0.2) for i in range(50)]
    share = sum(is_unseen("anime", i, 0.2) for i in range(1, 5001)) / 5000
    assert 0.18 < share < 0.22
    small = synthetic(100, 0, name="s")
    large = synthetic(300, 0, name="l")
    unseen_small = {i.subject_id for i in small.items if i.split == "unseen"}
    unseen_large = {i.subject_id for i in large.items if i.split == "unseen" and i.subject_id <= 100}
    assert unseen_small and unseen_small == unseen_large


def test_splits_mean_what_they_say(synthetic_evalset):
    trained_questions = {row["messages"][0]["content"] for row in synthetic_evalset.train}
    trained_anime = {row["subject_id"] for row in synthetic_evalset.train}
    by_split = {}
    for item in synthetic_evalset.items:
        by_split.setdefault(item.split, []).append(item)
    assert set(by_split) == {"verbatim", "paraphrase", "reverse", "unseen"}
    assert all(i.question in trained_questions for i in by_split["verbatim"])
    assert not any(i.question in trained_questions for i in by_split["paraphrase"])
    assert all(i.subject_id in trained_anime for s in ("verbatim", "paraphrase", "reverse") for i in by_split[s])
    assert not any(i.subject_id in trained_anime for i in by_split["unseen"])
    assert all(i.field == "title" and i.subject == "" for i in by_split["reverse"])
    fields = {i.field for i in by_split["verbatim"]}
    assert {"genres", "studios", "episodes", "score", "producers", "rating", "scored_by"} <= fields


def test_reverse_questions_single_out_one_anime(synthetic_evalset):
    reverse = [i.question for i in synthetic_evalset.items if i.split == "reverse"]
    assert reverse and len(reverse) == len(set(reverse))


@pytest.mark.realdata
def test_no_question_or_answer_shows_a_missing_marker(real_sample):
    evalset = build_evalset(ANIME, table_of(read_catalogue_csv(real_sample)), name="r")
    texts = [i.question for i in evalset.items] + [m["content"] for r in evalset.train for m in r["messages"]]
    missing_marker = re.compile(r"\b(UNKNOWN|nan|None)\b|\b\d+\.0 episode")
    assert not [t for t in texts if missing_marker.search(t)]


def test_training_records_are_chat_format(synthetic_evalset):
    for row in synthetic_evalset.train[:50]:
        assert set(row) == {"id", "subject_id", "template", "messages"}
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
    templates = {row["template"] for row in synthetic_evalset.train}
    assert {"GI1", "GI2", "GI3"} <= templates and any(".train." in t for t in templates)
    assert not any(".heldout." in t for t in templates)


def test_manifest_counts_and_hashes(tmp_path, synthetic_evalset):
    out = write_evalset(synthetic_evalset, tmp_path / "t")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows_read"] == 400 and manifest["rows_kept"] == 400
    assert manifest["counts"]["train"] == len(synthetic_evalset.train)
    assert sum(sum(f.values()) for f in manifest["counts"]["eval"].values()) == len(synthetic_evalset.items)
    assert set(manifest["files"]) == {"train.jsonl", "eval.jsonl", "lexicon.json"}
    assert manifest["source"]["kind"] == "synthetic" and len(manifest["source"]["sha256"]) == 64
    assert manifest["template_version"] == TEMPLATE_VERSION and manifest["locale"] == "en" and manifest["seed"] == 1
    assert manifest["domain"]["name"] == "anime" and list(manifest["domain"]["fields"]) == list(ANIME.field_names)
    assert sum(manifest["subjects"].values()) == manifest["rows_kept"] and "anime" not in manifest


def test_the_domains_loader_builds_the_same_evalset(synthetic_evalset):
    table = ANIME.load("synthetic", 400, 1)
    assert build_evalset(ANIME, table, name="t", seed=1).manifest == synthetic_evalset.manifest


def test_questions_carry_the_subject_id_and_read_the_old_key(synthetic_evalset):
    item = synthetic_evalset.items[0]
    row = item.to_dict()
    assert "subject_id" in row and "anime_id" not in row and QAItem.from_dict(row) == item
    old = {**{k: v for k, v in row.items() if k != "subject_id"}, "anime_id": item.subject_id}
    assert QAItem.from_dict(old) == item  # evalsets and audit labels made before domains


def test_a_locale_without_templates_is_refused():
    with pytest.raises(EvalsetError, match=r"--locale fr: the anime domain has templates for \['en', 'ko'\]"):
        synthetic(20, 0, name="fr", locale="fr")


def test_companies_are_written_under_one_name(tmp_path):
    records = [AnimeRecord(1, "Ichi", studios=("Studio Deen",)), AnimeRecord(2, "Ni", studios=("Deen", "Sunrise")),
               AnimeRecord(3, "San", producers=("DEEN",), episodes=3)]
    subjects, dropped = usable_subjects(ANIME, tuple(subject_of(r) for r in records))
    assert [s.facts["studios"] for s in subjects] == [("Studio Deen",), ("Studio Deen", "Sunrise"), ()]
    assert subjects[2].facts["producers"] == ("Studio Deen",)  # studios and producers share the name
    assert dropped == {"no_title": 0, "ambiguous_title": 0, "no_facts": 0}


def test_tampered_evalset_is_refused(tmp_path, synthetic_evalset):
    out = write_evalset(synthetic_evalset, tmp_path / "t")
    with open(out / "eval.jsonl", "a") as f:
        f.write("\n")
    with pytest.raises(EvalsetError, match="eval.jsonl: missing or changed"):
        load_evalset(out)


def test_not_an_evalset(tmp_path):
    with pytest.raises(EvalsetError, match="not an evalset"):
        load_evalset(tmp_path)


def test_failed_write_leaves_previous_evalset_whole(tmp_path, synthetic_evalset, monkeypatch):
    out = write_evalset(synthetic_evalset, tmp_path / "t")
    before = (out / "eval.jsonl").read_bytes()
    import harness.storage as storage

    def broken(path, obj):
        raise OSError("disk full")
    monkeypatch.setattr(storage, "write_json", broken)
    with pytest.raises(OSError):
        write_evalset(synthetic(50, 9, name="t"), out, force=True)
    assert (out / "eval.jsonl").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t"]  # no staging folder left behind


def test_rows_without_facts_or_with_shared_titles_are_dropped(tiny_csv):
    subjects, dropped = usable_subjects(ANIME, table_of(read_catalogue_csv(tiny_csv)).subjects)
    assert dropped == {"no_title": 0, "ambiguous_title": 0, "no_facts": 1}
    assert 105 not in {s.id for s in subjects}


def test_korean_locale(tmp_path):
    evalset = synthetic(60, 0, name="ko", locale="ko")
    assert any("장르" in i.question for i in evalset.items)
    assert evalset.manifest["locale"] == "ko"


def test_force_never_deletes_what_the_user_added(tmp_path, synthetic_evalset):
    out = write_evalset(synthetic_evalset, tmp_path / "t")
    (out / "NOTES.md").write_text("mine")
    (out / "extra").mkdir()
    other = synthetic(50, 9, name="t")
    with pytest.raises(EvalsetError, match=r"holds \['NOTES.md', 'extra'\] besides the evalset's own files"):
        write_evalset(other, out, force=True)
    assert (out / "NOTES.md").read_text() == "mine" and (out / "extra").is_dir()
    assert write_evalset(synthetic_evalset, out) == out  # the same evalset, intact: nothing to do, nothing lost
    assert (out / "NOTES.md").exists()


def test_a_damaged_file_of_the_same_evalset_is_rewritten(tmp_path, synthetic_evalset):
    out = write_evalset(synthetic_evalset, tmp_path / "t")
    good = (out / "eval.jsonl").read_bytes()
    (out / "eval.jsonl").write_text("damaged\n")
    with pytest.raises(EvalsetError, match="missing or changed"):
        load_evalset(out)
    write_evalset(synthetic_evalset, out)  # no --force needed: same identity
    assert (out / "eval.jsonl").read_bytes() == good and load_evalset(out).manifest == synthetic_evalset.manifest
    (out / "lexicon.json").unlink()
    write_evalset(synthetic_evalset, out)
    assert load_evalset(out).manifest == synthetic_evalset.manifest


@pytest.mark.parametrize("out", [".", "..", "sub/.."])
def test_the_current_folder_or_one_above_is_refused(tmp_path, monkeypatch, synthetic_evalset, out):
    (tmp_path / "here" / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "here")
    with pytest.raises(EvalsetError, match=f"--out {re.escape(out)}: is the current folder or holds it"):
        write_evalset(synthetic_evalset, out, force=True)
    assert sorted(p.name for p in (tmp_path / "here").iterdir()) == ["sub"]


@pytest.mark.parametrize("manifest, key", [
    ({"files": {}, "sha256": "x"}, "name"),
    ({"name": "n", "files": {}}, "sha256"),
    ({"name": "n", "sha256": "x"}, "files"),
    ({"name": "n", "sha256": "x", "files": []}, "files"),
    ([1, 2], "name"),
])
def test_a_manifest_that_is_not_an_evalsets_names_the_key(tmp_path, manifest, key):
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EvalsetError, match=f"manifest.json: not an evalset's manifest \\('{key}' missing"):
        load_evalset(tmp_path)
