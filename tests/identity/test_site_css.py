"""The focus indicator's colours, read from static/css/site.css: WCAG 2.2 wants 3:1 between the focus
indicator and what surrounds it (2.4.11, 1.4.11). The ring is dark (--focus-ring) around yellow (--focus):
the dark ring must stand out from every surface a control sits on, the yellow from the dark ring and from
the blue primary buttons it hugs."""

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "static" / "css" / "site.css").read_text()


def found(pattern: str, text: str, group: int = 1) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern} is not in site.css"
    return match[group]


def variable(name: str) -> str:
    return found(rf"--{name}:\s*(#[0-9a-fA-F]{{6}})", CSS)


def luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula():
    assert contrast("#ffffff", "#000000") == pytest.approx(21)
    assert contrast("#ffbf47", "#ffffff") == pytest.approx(1.6, abs=0.05)  # the old outline, on white


def focus_rule() -> str:
    return found(r"a:focus-visible[^{]*\{([^}]*)\}", CSS)


def test_every_control_gets_the_ring():
    selectors = found(r"(a:focus-visible[^{]*)\{", CSS)
    for control in ("a", "button", "input", "select", "textarea", "summary"):
        assert f"{control}:focus-visible" in selectors
    rule = focus_rule()
    assert "outline: 3px solid var(--focus-ring)" in rule and "outline-offset: 2px" in rule
    assert "box-shadow: 0 0 0 2px var(--focus)" in rule


@pytest.mark.parametrize("surface", ["card", "bg", "accent-ink"])
def test_dark_ring_stands_out_from_the_surfaces(surface):
    assert contrast(variable("focus-ring"), variable(surface)) >= 3


@pytest.mark.parametrize("neighbour", ["focus-ring", "accent"])
def test_yellow_ring_stands_out_from_its_neighbours(neighbour):
    assert contrast(variable("focus"), variable(neighbour)) >= 3
