from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REAL_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mal-anime-2023-sample.csv"


@pytest.fixture
def tiny_csv() -> Path:
    return DATA / "tiny.csv"


@pytest.fixture
def real_sample() -> Path:
    if not REAL_SAMPLE.is_file():
        pytest.skip(f"real MAL sample not found at {REAL_SAMPLE} (it lives in ../shared/data beside the checkout)")
    return REAL_SAMPLE
