"""The partial predictions file: its settings header, resuming from it, and what a kill mid-write leaves.

The model is a stand-in (`decode_batch` answers from the prompt), so these run in milliseconds without torch.
"""

import json
from types import SimpleNamespace

import pytest

import harness.generation as generation
from harness.evalsets import QAItem
from harness.runs import RunError
from harness.storage import RecordError

ITEMS = [QAItem(id=f"q{n}", subject_id=n, split="verbatim", field="episodes", question=f"How many episodes has {n}?",
                gold=n, fewshot=f"A has 2 episodes.\nS{n} has") for n in range(7)]


class WordTokenizer:
    """A chat template that is the question itself, one token per word, no begin-of-text token."""

    bos_token = None

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        return messages[-1]["content"]

    def __call__(self, text, add_special_tokens):
        return SimpleNamespace(input_ids=text.split())


def answer(path, items=ITEMS, *, max_new_tokens=4, model_name="base-model", batches_before_kill=None,
           monkeypatch=None, prompting="chat"):
    """generate_answers with a stand-in model (batch 2); `batches_before_kill` stops it like a kill would."""
    batches = []

    def fake_batch(model, tokenizer, prompts, max_new_tokens, cache, fixed_shape=None, sampling=None, first_line=False):
        if batches_before_kill is not None and len(batches) == batches_before_kill:
            raise KeyboardInterrupt
        batches.append(prompts)
        return [f"{prompt.split()[-1]} has {max_new_tokens} episodes" for prompt in prompts], len(prompts)
    monkeypatch.setattr(generation, "decode_batch", fake_batch)
    answers = generation.generate_answers(None, WordTokenizer(), items, batch_size=2, max_new_tokens=max_new_tokens,
                                          partial_path=path, model_name=model_name, prompting=prompting)
    return answers, [prompt for batch in batches for prompt in batch]


def interrupted(tmp_path, monkeypatch, **settings):
    """A partial file left by a run killed after two batches (four answers)."""
    path = tmp_path / "base.partial.jsonl"
    with pytest.raises(KeyboardInterrupt):
        answer(path, batches_before_kill=2, monkeypatch=monkeypatch, **settings)
    return path


def test_partial_file_starts_with_its_settings_and_the_final_file_is_answers_only(tmp_path, monkeypatch):
    path = interrupted(tmp_path, monkeypatch)
    header, *answers = [json.loads(line) for line in path.read_text().splitlines()]
    assert header == {"partial_of": "harness.predictions", "settings": {"model": "base-model", "max_new_tokens": 4}}
    assert len(answers) == 4 and all(set(row) == {"id", "output"} for row in answers)

    predictions, asked = answer(path, monkeypatch=monkeypatch)
    assert len(asked) == 3 and [p.id for p in predictions] == [item.id for item in ITEMS]  # resumed, not redone
    final = tmp_path / "base.jsonl"
    generation.write_predictions(predictions, final)
    assert [set(json.loads(line)) for line in final.read_text().splitlines()] == [{"id", "output"}] * 7
    assert not path.exists()


@pytest.mark.parametrize(("made_with", "asked_for", "shown"), [
    ({"max_new_tokens": 4}, {"max_new_tokens": 48}, ["max_new_tokens=4", "max_new_tokens=48"]),
    ({"model_name": "base-model"}, {"model_name": "run/merged"}, ["model='base-model'", "model='run/merged'"]),
    ({"prompting": "fewshot"}, {"prompting": "chat"}, ["prompting='fewshot'", "prompting=None"]),
])
def test_resume_with_other_settings_is_refused(tmp_path, monkeypatch, made_with, asked_for, shown):
    """Answers made with 4 and with 48 new tokens never share one file."""
    path = interrupted(tmp_path, monkeypatch, **made_with)
    before = path.read_bytes()
    with pytest.raises(RunError) as raised:
        answer(path, monkeypatch=monkeypatch, **asked_for)
    message = str(raised.value)
    assert str(path) in message and all(part in message for part in shown) and "delete the file" in message
    assert path.read_bytes() == before


@pytest.mark.parametrize("torn", [b'{"id": "q6", "outp', b'{"id": "q6", "output": "caf\xc3', b"{"])
def test_torn_last_line_is_dropped_and_its_question_answered_again(tmp_path, monkeypatch, torn):
    """A kill mid-write leaves the last line without its end (cut anywhere, even inside a UTF-8 character)."""
    path = interrupted(tmp_path, monkeypatch)
    path.write_bytes(path.read_bytes() + torn)
    with pytest.warns(UserWarning, match=rf"{path.name}: line 6 was torn"):
        predictions, asked = answer(path, monkeypatch=monkeypatch)
    assert len(asked) == 3 and len(predictions) == 7
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8 and all(isinstance(json.loads(line), dict) for line in lines)


def test_whole_last_line_without_its_newline_is_kept(tmp_path, monkeypatch):
    path = interrupted(tmp_path, monkeypatch)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    predictions, asked = answer(path, monkeypatch=monkeypatch)
    assert len(asked) == 3 and len(predictions) == 7
    assert len([json.loads(line) for line in path.read_text().splitlines()]) == 8  # the next answer on its own line


@pytest.mark.parametrize("line", [3, 6])
def test_bad_line_that_is_not_a_torn_last_line_is_an_error_naming_it(tmp_path, monkeypatch, line):
    """Only the last line, and only without its newline, can be torn by a kill: a bad line before it, or a bad
    last line that ends whole, is damage."""
    path = interrupted(tmp_path, monkeypatch)  # the header and four answers: line 6 is a new last line
    lines = path.read_bytes().splitlines(keepends=True)
    lines[line - 1:line] = [b'{"id": "q2", "outp\n']
    path.write_bytes(b"".join(lines))
    with pytest.raises(RecordError, match=rf"{path.name}: line {line}: not a JSON object"):
        answer(path, monkeypatch=monkeypatch)


def test_partial_file_without_settings_header_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "base.partial.jsonl"
    path.write_text('{"id": "q0", "output": "0 has 4 episodes"}\n')
    with pytest.raises(RecordError, match=r"line 1: not the settings header.*delete the file"):
        answer(path, monkeypatch=monkeypatch)


def test_empty_partial_file_starts_afresh(tmp_path, monkeypatch):
    """A kill before anything was written leaves an empty file (or one whose only line was torn)."""
    path = tmp_path / "base.partial.jsonl"
    path.write_bytes(b"")
    predictions, asked = answer(path, monkeypatch=monkeypatch)
    assert len(asked) == 7 and json.loads(path.read_text().splitlines()[0])["partial_of"] == "harness.predictions"


@pytest.mark.parametrize(("row", "complaint"), [
    ({"id": "q99", "output": "99 has 4 episodes"}, "id 'q99' is not a question of this evalset"),
    ({"id": ["q5"], "output": "5 has 4 episodes"}, r"id \['q5'\] is not a question of this evalset"),
    ({"id": "q5", "output": 5}, "output 5 is not a string"),
])
def test_partial_answer_to_no_question_or_not_a_string_is_an_error_naming_the_line(tmp_path, monkeypatch, row,
                                                                                    complaint):
    """A foreign id once made progress read 8/7; an integer answer was copied into the predictions."""
    path = interrupted(tmp_path, monkeypatch)  # the header and four answers: the added row is line 6
    path.write_text(path.read_text() + json.dumps(row) + "\n")
    with pytest.raises(RecordError, match=rf"{path.name}: line 6: {complaint}.*delete the file"):
        answer(path, monkeypatch=monkeypatch)


def test_a_fewshot_answer_stops_at_the_end_of_its_first_nonblank_line():
    """FirstLine ends an answer with the token that ends its first line of text: a leading blank line does not
    stop it (fewshot_answer strips it), a token holding text and the newline does, and so does a newline after
    text; the line kept is the one a full-length answer gives."""
    import torch

    from harness.generation import FirstLine

    class Vocabulary:  # a tokenizer's two calls FirstLine makes
        pieces = ["Ap", "ia", "\n", ".\n", " ", "\n\n"]

        def __len__(self):
            return len(self.pieces)

        def batch_decode(self, ids):
            return [self.pieces[i] for (i,) in ids]

    stops = FirstLine(Vocabulary())
    # rows: a blank line, then "Apia", then a newline / "Apia.\n" in one go / blank tokens only
    steps = [[2, 0, 4], [0, 1, 5], [1, 3, 4], [2, 3, 2]]
    seen = torch.zeros(3, 0, dtype=torch.long)
    stopped_at = {}
    for step, tokens in enumerate(steps):
        seen = torch.cat([seen, torch.tensor(tokens)[:, None]], dim=1)
        for row, stop in enumerate(stops(seen, None).tolist()):
            if stop and row not in stopped_at:
                stopped_at[row] = step
    assert stopped_at == {0: 3, 1: 2}  # row 2 never wrote text: never stopped
