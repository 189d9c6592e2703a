"""SCIM filters (RFC 7644 3.4.2.2) as Django queries: the comparisons provisioning systems send,
translated to Q over our columns, so the database filters, counts and pages. Anything else is
refused with invalidFilter (never matched in Python, which would make totalResults and paging wrong).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from scim2_models import InvalidFilterException, InvalidValueException
from scim2_models.path import AttrPath, CompareOperator, Comparison, FilterNode, LogicalExpr, LogicalOperator, ValuePath

CORE_SCHEMAS = ("urn:ietf:params:scim:schemas:core:2.0:user", "urn:ietf:params:scim:schemas:core:2.0:group")
ORDERING = {CompareOperator.gt: "gt", CompareOperator.ge: "gte", CompareOperator.lt: "lt", CompareOperator.le: "lte"}


@dataclass(frozen=True)
class Attribute:
    """How one SCIM attribute is compared: `equal(value)` for eq, `column` for gt/ge/lt/le on a time."""

    equal: Callable[[str], Q] | None = None
    column: str = ""  # a datetime column, for ordering comparisons
    sort: str = ""  # the column sortBy orders by


Attributes = dict[str, Attribute]  # "username", "emails.value", "meta.lastmodified"


def name_of(path: AttrPath | str, parent: str = "") -> str:
    """'emails.value' for emails.value, emails[value ...] and urn:...:User:emails.value; lower case."""
    if isinstance(path, str):
        text = path.lower()
        for urn in CORE_SCHEMAS:
            text = text.removeprefix(urn + ":")
        return text
    uri = (path.uri or "").lower()
    if uri and uri not in CORE_SCHEMAS:
        return f"{uri}:{path.attr}".lower()
    name = ".".join(part for part in (parent, path.attr, path.sub_attr or "") if part)
    return name.lower()


def to_q(node: FilterNode, attributes: Attributes, parent: str = "") -> Q:
    """The query for a filter's tree. `parent` is the multi-valued attribute of a value path."""
    if isinstance(node, LogicalExpr):
        queries = [to_q(term, attributes, parent) for term in node.terms]
        combined = queries[0]
        for query in queries[1:]:
            combined = combined & query if node.op == LogicalOperator.and_ else combined | query
        return combined
    if isinstance(node, ValuePath) and not parent and node.sub_attr is None:
        return to_q(node.val_filter, attributes, parent=name_of(node.attr_path))
    if isinstance(node, Comparison):
        return _comparison(node, attributes, parent)
    raise InvalidFilterException(detail=f"This filter is not supported here: {node}. See docs/scim.md.")


def _comparison(node: Comparison, attributes: Attributes, parent: str) -> Q:
    name = name_of(node.attr_path, parent)
    attribute = attributes.get(name)
    if attribute is None:
        raise InvalidFilterException(detail=f"Filtering on {name!r} is not supported.")
    if node.op == CompareOperator.eq and attribute.equal is not None:
        if not isinstance(node.value, str):
            raise InvalidFilterException(detail=f"{name!r} is compared to a string.")
        return attribute.equal(node.value)
    if node.op in ORDERING and attribute.column:
        when = parse_datetime(node.value) if isinstance(node.value, str) else None
        if when is None:
            raise InvalidFilterException(detail=f"{name!r} is compared to a date and time (RFC 3339).")
        return Q(**{f"{attribute.column}__{ORDERING[node.op]}": when})
    raise InvalidFilterException(detail=f"{name!r} does not support the operator {node.op.value!r} here.")


def uuid_equal(column: str) -> Callable[[str], Q]:
    """An id that is no UUID matches nothing (it is no error: the resource simply does not exist)."""

    def equal(value: str) -> Q:
        try:
            return Q(**{column: uuid.UUID(value)})
        except ValueError:
            return Q(pk__in=[])

    return equal


def sort_column(sort_by: object, attributes: Attributes) -> str:
    """The column to order a search by, for the attributes that offer sorting."""
    name = name_of(str(sort_by))
    attribute = attributes.get(name)
    if attribute is None or not attribute.sort:
        offered = ", ".join(sorted(key for key, value in attributes.items() if value.sort))
        raise InvalidValueException(detail=f"Sorting by {name!r} is not supported; sort by one of: {offered}.")
    return attribute.sort
