"""Results written in German, as German laboratory and pathology systems send them in
valueString, are read as the same answer codes as their English words; words that are
ambiguous for a test (an IHC stain "negativ" means loss) are still not guessed."""

from __future__ import annotations

import pytest

from fhir_mappings.facts import LOINC
from tests.unit.test_reading import obs, read


@pytest.mark.parametrize(
    ("code", "text", "answer"),
    [
        ("2106-3", "negativ", "LA6577-6"),
        ("2106-3", "Nicht nachweisbar", "LA6577-6"),
        ("2106-3", "POSITIV", "LA6576-8"),
        ("81695-9", "mikrosatellitenstabil", "LA14122-8"),
        ("81695-9", "stabil", "LA14122-8"),
        ("81695-9", "nicht beurteilbar", "LA11884-6"),
        ("81695-9", "instabil", "LA14123-6"),  # as "instable": unstable, not MSS
        ("81691-8", "erhalten", "LA26197-6"),
        ("81692-6", "Expression erhalten", "LA26197-6"),
        ("81693-4", "Verlust", "LA26198-4"),
        ("81694-2", "ausgefallen", "LA26198-4"),
        ("81694-2", "unbestimmt", "LA14100-4"),
    ],
)
def test_german_words_become_answer_codes(code: str, text: str, answer: str) -> None:
    assert read(obs(code, valueString=text)).value.codes == {(LOINC, answer)}


@pytest.mark.parametrize("text", ["negativ", "positiv"])
def test_ambiguous_words_are_not_guessed(text: str) -> None:
    # On an MMR stain "negativ" means loss and "positiv" expression: never guessed.
    assert read(obs("81691-8", valueString=text)).value.codes == frozenset()


@pytest.mark.parametrize(
    ("text", "answer"),
    [("stabil.", "LA14122-8"), ("MSS,", "LA14122-8"), ("instabil;", "LA14123-6")],
)
def test_a_trailing_full_stop_or_comma_is_not_part_of_the_answer(text: str, answer: str) -> None:
    assert read(obs("81695-9", valueString=text)).value.codes == {(LOINC, answer)}


def test_a_trailing_full_stop_does_not_make_an_ambiguous_word_readable() -> None:
    assert read(obs("81691-8", valueString="negativ.")).value.codes == frozenset()
