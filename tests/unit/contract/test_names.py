"""Key and tag naming rules that more than one process relies on."""

from __future__ import annotations

from chorus.contract import names

TAG = "0f6a3b1c-8f5e-4a52-9d1e-2b7c9e1d4f00"


def test_a_first_delivery_keeps_its_tag() -> None:
    assert names.first_delivery_tag(TAG) == TAG


def test_a_handed_back_delivery_names_its_first_tag_however_often_it_came_back() -> None:
    assert names.first_delivery_tag(f"{TAG}.7") == TAG
    assert names.first_delivery_tag(f"{TAG}.7.12") == TAG
