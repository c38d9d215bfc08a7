"""The embedded default catalogue: fictional anime in the Kaggle schema, deterministic in (rows, seed).

Fictional on purpose: a base model cannot already know these facts, so what a tuned model recalls is
knowledge the fine-tune injected. The rows are written as Kaggle CSV bytes and parsed by the same reader as
real data, so both paths share one parser and one manifest hash. Example row (abridged):

    anime_id=1, Name="Hoshimura no Kazeri", English name="The Crimson Lantern", Other name="ホシムラ の カゼリ",
    Score="7.42", Genres="Comedy, Fantasy", Type="TV", Episodes="13.0", Studios="Studio Tanoroku",
    Rating="PG-13 - Teens 13 or older", Scored By="18234.0"
"""

from __future__ import annotations

import csv
import io
import random

from harness.domains.anime import GENRES
from harness.domains.anime_catalogue import KAGGLE_COLUMNS, RATINGS, Catalogue, CatalogueError, parse_catalogue_bytes
from harness.matching import normalise_name

# Romaji syllables and their katakana, so the Japanese "Other name" is a faithful transliteration.
SYLLABLES = {
    "ka": "カ", "ki": "キ", "ku": "ク", "ke": "ケ", "ko": "コ", "sa": "サ", "shi": "シ", "su": "ス", "se": "セ",
    "so": "ソ", "ta": "タ", "chi": "チ", "tsu": "ツ", "te": "テ", "to": "ト", "na": "ナ", "ni": "ニ", "nu": "ヌ",
    "ne": "ネ", "no": "ノ", "ha": "ハ", "hi": "ヒ", "fu": "フ", "he": "ヘ", "ho": "ホ", "ma": "マ", "mi": "ミ",
    "mu": "ム", "me": "メ", "mo": "モ", "ya": "ヤ", "yu": "ユ", "yo": "ヨ", "ra": "ラ", "ri": "リ", "ru": "ル",
    "re": "レ", "ro": "ロ", "wa": "ワ", "ga": "ガ", "gi": "ギ", "go": "ゴ", "za": "ザ", "ji": "ジ", "zu": "ズ",
    "da": "ダ", "de": "デ", "do": "ド", "ba": "バ", "bi": "ビ", "bu": "ブ", "be": "ベ", "bo": "ボ", "pa": "パ",
    "po": "ポ",
}
ADJECTIVES = (
    "Crimson", "Silent", "Broken", "Hidden", "Endless", "Frozen", "Golden", "Hollow", "Iron", "Lunar", "Midnight",
    "Paper", "Restless", "Scarlet", "Shattered", "Silver", "Solar", "Spiral", "Sunken", "Velvet", "Wandering",
    "Whispering", "Wild", "Azure", "Burning", "Clockwork", "Distant", "Emerald", "Falling", "Glass", "Last",
    "Little", "Neon", "Obsidian", "Quiet", "Rusty", "Starlit", "Tidal", "Twilight", "Violet",
)
NOUNS = (
    "Lantern", "Tide", "Academy", "Blade", "Garden", "Harbor", "Kingdom", "Labyrinth", "Melody", "Orchard",
    "Pilgrim", "Requiem", "Sentinel", "Sparrow", "Station", "Tower", "Voyage", "Wolf", "Archive", "Bell",
    "Caravan", "Comet", "Crown", "Dragon", "Engine", "Festival", "Frontier", "Ghost", "Horizon", "Island",
    "Knight", "Lighthouse", "Mirror", "Orbit", "Phantom", "River", "Shrine", "Signal", "Thief", "Witch",
)
ENGLISH_PATTERNS = ("The {a} {n}", "{n} of the {a} {m}", "{a} {n} {m}", "My {a} {n}", "{a} {n}")
STUDIO_PATTERNS = ("Studio {w}", "{w} Animation", "{w} Pictures", "{w} Works", "{w} Lab", "{w} Inc.")
PRODUCER_PATTERNS = ("{w} Media", "{w} Entertainment", "{w} Records", "{w} Broadcasting", "{w} Shobo", "{w} Music")
HEROES = ("a young swordsman", "a retired detective", "two estranged sisters", "a runaway princess",
          "a clumsy apprentice witch", "a lonely android", "a high-school chess club", "a travelling cook")
GOALS = ("find a lost map", "win a forbidden tournament", "repair an ancient machine", "return a stolen bell",
         "protect a fading village", "deliver one last letter", "uncover a family secret", "break a curse")
THREATS = ("the winter solstice", "the empire's army arrives", "the last train leaves", "the moon turns red",
           "their memories vanish", "the festival ends", "the sea swallows the town", "a rival guild strikes")
# Rough MAL frequencies: many one-offs, many 12/13/24/26-episode seasons, a long tail.
EPISODE_WEIGHTS = {1: 25, 2: 4, 3: 4, 4: 3, 6: 4, 10: 3, 11: 3, 12: 18, 13: 13, 24: 6, 25: 3, 26: 9, 39: 1,
                   50: 1, 51: 1, 52: 2, 64: 1, 100: 1}
RATING_WEIGHTS = {"G": 7, "PG": 6, "PG-13": 56, "R": 13, "R+": 15, "Rx": 3}
# Genres a fictional catalogue gets; the adult-only ones are left out of the default data.
SYNTHETIC_GENRES = tuple(g for g in GENRES if g not in {"Hentai", "Erotica"})


def generate_catalogue(rows: int, seed: int) -> Catalogue:
    """`rows` fictional anime, byte-identical for the same (rows, seed)."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise CatalogueError(
            f"synthetic catalogue: --rows {rows!r}: the number of anime to generate must be a whole number of at "
            "least 1; give e.g. --rows 1000, or leave --rows out for the default."
        )
    raw = synthetic_csv_bytes(rows, seed)
    return parse_catalogue_bytes(raw, source=f"synthetic(rows={rows}, seed={seed})", source_kind="synthetic")


def synthetic_csv_bytes(rows: int, seed: int) -> bytes:
    rng = random.Random(seed)
    studios = _unique_names(rng, STUDIO_PATTERNS, 8 + rows // 25)
    producers = _unique_names(rng, PRODUCER_PATTERNS, 12 + rows // 12)
    taken_titles: set[str] = set()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KAGGLE_COLUMNS)
    for anime_id in range(1, rows + 1):
        writer.writerow(_row(rng, anime_id, studios, producers, taken_titles))
    return out.getvalue().encode("utf-8")


def _row(rng: random.Random, anime_id: int, studios: list[str], producers: list[str], taken: set[str]) -> list:
    name, other_name = _title_pair(rng, taken)
    english = _english_title(rng, taken) if rng.random() < 0.7 else "UNKNOWN"
    episodes = rng.choices(list(EPISODE_WEIGHTS), weights=list(EPISODE_WEIGHTS.values()))[0]
    kind = rng.choice(("Movie", "OVA", "Special")) if episodes == 1 else rng.choice(("TV", "TV", "TV", "OVA", "ONA"))
    score = min(9.3, max(2.0, rng.gauss(6.9, 0.8)))
    scored_by = max(100, int(rng.lognormvariate(8.5, 1.6)))
    rating = rng.choices(list(RATING_WEIGHTS), weights=list(RATING_WEIGHTS.values()))[0]
    genres = rng.sample(SYNTHETIC_GENRES, rng.choice((1, 2, 2, 3, 3, 4)))
    own_studios = rng.sample(studios, 2 if rng.random() < 0.1 else 1)
    own_producers = rng.sample(producers, rng.choice((1, 2, 3))) if rng.random() < 0.8 else []
    year = rng.randint(1985, 2023)
    synopsis = (f"In {name}, {rng.choice(HEROES)} must {rng.choice(GOALS)} before {rng.choice(THREATS)}. "
                f"Along the way, old friends from {_word(rng)} return with secrets of their own.")
    fields = {
        "anime_id": anime_id, "Name": name, "English name": english, "Other name": other_name,
        "Score": f"{score:.2f}" if rng.random() > 0.03 else "UNKNOWN",
        "Genres": ", ".join(sorted(genres)), "Synopsis": synopsis, "Type": kind,
        "Episodes": f"{episodes:.1f}" if rng.random() > 0.02 else "UNKNOWN",
        "Aired": f"Apr {rng.randint(1, 28)}, {year}", "Premiered": f"spring {year}" if kind == "TV" else "UNKNOWN",
        "Status": "Finished Airing", "Producers": ", ".join(own_producers) or "UNKNOWN", "Licensors": "UNKNOWN",
        "Studios": ", ".join(own_studios), "Source": rng.choice(("Original", "Manga", "Light novel", "Game")),
        "Duration": "24 min per ep" if kind == "TV" else "1 hr 30 min", "Rating": RATINGS[rating],
        "Rank": "UNKNOWN", "Popularity": anime_id, "Favorites": scored_by // 50, "Scored By": f"{scored_by:.1f}",
        "Members": scored_by * 2, "Image URL": "UNKNOWN",
    }
    return [fields[c] for c in KAGGLE_COLUMNS]


def _word(rng: random.Random, syllables: tuple[int, int] = (2, 4)) -> str:
    return "".join(rng.choice(list(SYLLABLES)) for _ in range(rng.randint(*syllables))).capitalize()


def _title_pair(rng: random.Random, taken: set[str]) -> tuple[str, str]:
    """A romaji title and its katakana rendering, unique after normalisation."""
    while True:
        words = [_word(rng) for _ in range(rng.choice((1, 2, 2)))]
        joined = " no ".join(words) if len(words) == 2 and rng.random() < 0.5 else " ".join(words)
        key = normalise_name(joined)
        if key not in taken:
            taken.add(key)
            return joined, " ".join(_katakana(w) for w in joined.split())


def _katakana(word: str) -> str:
    if word == "no":
        return "の"
    out, rest = [], word.lower()
    while rest:
        syllable = next(s for s in sorted(SYLLABLES, key=len, reverse=True) if rest.startswith(s))
        out.append(SYLLABLES[syllable])
        rest = rest[len(syllable):]
    return "".join(out)


def _english_title(rng: random.Random, taken: set[str]) -> str:
    for _ in range(50):
        a, n, m = rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(NOUNS)
        title = rng.choice(ENGLISH_PATTERNS).format(a=a, n=n, m=m)
        if n != m and normalise_name(title) not in taken:
            taken.add(normalise_name(title))
            return title
    return "UNKNOWN"  # the English namespace is crowded: leave it missing, as a third of real rows are


def _unique_names(rng: random.Random, patterns: tuple[str, ...], count: int) -> list[str]:
    names: dict[str, str] = {}
    while len(names) < count:
        name = rng.choice(patterns).format(w=_word(rng, (2, 3)))
        names.setdefault(normalise_name(name), name)
    return list(names.values())
