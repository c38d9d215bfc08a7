import os

from harness import storage


def test_written_files_follow_the_umask(tmp_path):
    """mkstemp makes 0600 files; the harness's records are as readable as anything else the user writes."""
    storage.write_json(tmp_path / "a.json", {"x": 1})
    storage.write_jsonl(tmp_path / "b.jsonl", [{"x": 1}])
    expected = 0o666 & ~storage._UMASK
    for name in ("a.json", "b.jsonl"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == expected


def test_same_records_give_the_same_bytes(tmp_path):
    storage.write_jsonl(tmp_path / "a.jsonl", [{"b": 1, "a": "é"}])
    storage.write_jsonl(tmp_path / "b.jsonl", [{"b": 1, "a": "é"}])
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert storage.sha256_file(tmp_path / "a.jsonl") == storage.sha256_file(tmp_path / "b.jsonl")
