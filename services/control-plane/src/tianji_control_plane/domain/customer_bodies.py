"""Request bodies of `/customer/*` (alias `/end_user/*`) and `/budget/*`, as LiteLLM names them.

Same rules as `bodies.py`: unknown fields are ignored, update bodies use `UNSET` so
"absent" leaves a column alone and `null` clears it. Types, ranges and the region
enum are checked by msgspec (422 naming the field); cross-field checks in the domain.

`model_max_budget` takes LiteLLM's `GenericBudgetConfigType` (model -> `{max_budget,
budget_duration, tpm_limit, rpm_limit}`), and a bare number as shorthand for
`{max_budget: n}`; it is stored as sent, so `/budget/info` echoes it back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "BUDGET_FIELDS",
    "BlockCustomers",
    "BudgetDelete",
    "BudgetsRef",
    "CustomersRef",
    "ModelBudget",
    "ModelMaxBudget",
    "NewBudget",
    "NewCustomer",
    "Region",
    "UpdateBudget",
    "UpdateCustomer",
]

# LiteLLM's `AllowedModelRegion`.
Region = Literal["eu", "us"]
Count = Annotated[int, msgspec.Meta(ge=0)]
Money = Annotated[float, msgspec.Meta(ge=0)]

# The limit fields of LiteLLM's `BudgetNewRequest` (without `budget_id`): given inline on
# a customer, they go to the customer's budget row, not the customer row.
BUDGET_FIELDS: Final = (
    "max_budget",
    "soft_budget",
    "max_parallel_requests",
    "tpm_limit",
    "rpm_limit",
    "budget_duration",
    "model_max_budget",
    "budget_reset_at",
)


class ModelBudget(msgspec.Struct, kw_only=True, omit_defaults=True):
    """LiteLLM's `BudgetConfig`: one model's limits inside `model_max_budget`."""

    max_budget: Money | None = None
    budget_limit: Money | None = None  # older LiteLLM name for `max_budget`
    budget_duration: str | None = None
    tpm_limit: Count | None = None
    rpm_limit: Count | None = None


ModelMaxBudget = dict[str, ModelBudget | Money]


class NewBudget(msgspec.Struct, kw_only=True):
    """`POST /budget/new` (LiteLLM's `BudgetNewRequest`)."""

    budget_id: str | None = None
    max_budget: float | None = None
    soft_budget: float | None = None
    max_parallel_requests: Count | None = None
    tpm_limit: Count | None = None
    rpm_limit: Count | None = None
    budget_duration: str | None = None
    model_max_budget: ModelMaxBudget | None = None
    budget_reset_at: datetime | None = None


class UpdateBudget(msgspec.Struct, kw_only=True):
    """`POST /budget/update`: `budget_id` names the row; only the fields present change."""

    budget_id: str | None = None
    max_budget: float | UnsetType | None = UNSET
    soft_budget: float | UnsetType | None = UNSET
    max_parallel_requests: Count | UnsetType | None = UNSET
    tpm_limit: Count | UnsetType | None = UNSET
    rpm_limit: Count | UnsetType | None = UNSET
    budget_duration: str | UnsetType | None = UNSET
    model_max_budget: ModelMaxBudget | UnsetType | None = UNSET
    budget_reset_at: datetime | UnsetType | None = UNSET


class BudgetsRef(msgspec.Struct, kw_only=True):
    """`POST /budget/info` (LiteLLM's `BudgetRequest`)."""

    budgets: list[str] = msgspec.field(default_factory=list)


class BudgetDelete(msgspec.Struct, kw_only=True):
    """`POST /budget/delete` (LiteLLM's `BudgetDeleteRequest`)."""

    id: str


class NewCustomer(msgspec.Struct, kw_only=True):
    """`POST /customer/new` (LiteLLM's `NewCustomerRequest`, a `BudgetNewRequest`)."""

    user_id: str
    alias: str | None = None
    blocked: bool = False
    budget_id: str | None = None
    spend: Money | None = None
    allowed_model_region: Region | None = None
    default_model: str | None = None
    metadata: dict[str, Any] | None = None
    max_budget: float | None = None
    soft_budget: float | None = None
    max_parallel_requests: Count | None = None
    tpm_limit: Count | None = None
    rpm_limit: Count | None = None
    budget_duration: str | None = None
    model_max_budget: ModelMaxBudget | None = None
    budget_reset_at: datetime | None = None


class UpdateCustomer(msgspec.Struct, kw_only=True):
    """`POST /customer/update` (LiteLLM's `UpdateCustomerRequest`).

    The limit fields change the customer's linked budget (a new one is created when
    none is linked), as LiteLLM's `update_end_user` does.
    """

    user_id: str
    alias: str | UnsetType | None = UNSET
    blocked: bool | UnsetType = UNSET
    budget_id: str | UnsetType | None = UNSET
    spend: Money | UnsetType = UNSET
    allowed_model_region: Region | UnsetType | None = UNSET
    default_model: str | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET
    max_budget: float | UnsetType | None = UNSET
    soft_budget: float | UnsetType | None = UNSET
    max_parallel_requests: Count | UnsetType | None = UNSET
    tpm_limit: Count | UnsetType | None = UNSET
    rpm_limit: Count | UnsetType | None = UNSET
    budget_duration: str | UnsetType | None = UNSET
    model_max_budget: ModelMaxBudget | UnsetType | None = UNSET
    budget_reset_at: datetime | UnsetType | None = UNSET


class CustomersRef(msgspec.Struct, kw_only=True):
    """`POST /customer/delete` (LiteLLM's `DeleteCustomerRequest`)."""

    user_ids: list[str] = msgspec.field(default_factory=list)


class BlockCustomers(msgspec.Struct, kw_only=True):
    """`POST /customer/block|unblock` (LiteLLM's `BlockUsers`)."""

    user_ids: list[str]
