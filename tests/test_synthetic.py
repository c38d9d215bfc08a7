import pytest

from harness.domains.anime import GENRES
from harness.domains.anime_catalogue import RATINGS, CatalogueError
from harness.matching import normalise_name
from harness.synthetic import generate_catalogue, synthetic_csv_bytes


def test_same_seed_same_bytes_other_seed_other_bytes():
    assert synthetic_csv_bytes(200, 3) == synthetic_csv_bytes(200, 3)
    assert synthetic_csv_bytes(200, 3) != synthetic_csv_bytes(200, 4)


def test_catalogue_is_fictional_shaped_and_unique():
    catalogue = generate_catalogue(1000, 0)
    records = catalogue.records
    assert len(records) == 1000 and catalogue.source_kind == "synthetic"
    titles = [normalise_name(t) for r in records for t in (r.name, r.english_name) if t]
    assert len(titles) == len(set(titles)), "titles must not collide after normalisation"
    assert all(set(r.genres) <= set(GENRES) for r in records)
    assert all(r.rating in RATINGS for r in records)
    assert 0.2 < sum(r.english_name is None for r in records) / len(records) < 0.4  # like the real table
    assert any(len(r.studios) == 2 for r in records) and any(not r.producers for r in records)
    assert all(r.other_name and not r.other_name.isascii() for r in records)  # Japanese other names
    assert all(r.synopsis for r in records)
    assert {r.type for r in records} <= {"TV", "OVA", "Movie", "Special", "ONA"}


@pytest.mark.parametrize("rows", [0, -5, 2.5])
def test_rows_below_one_is_a_catalogue_error(rows):
    with pytest.raises(CatalogueError, match=rf"synthetic catalogue: --rows {rows!r}: .* at least 1; give e\.g\."):
        generate_catalogue(rows, 0)
