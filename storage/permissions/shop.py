"""Who may do what in the points shop (积分超市): pure checks, tested without Telegram."""

from __future__ import annotations

from collections.abc import Collection

from storage.models.shop import ShopOrder
from storage.permissions.org import Actor, OrgPermissions


class ShopPermissions:
    @staticmethod
    def can_manage(actor: Actor, village_id: int) -> bool:
        """Keep the list of goods, appoint keepers, see the shop's figures: village admins."""
        return OrgPermissions.can_administer(actor, village_id)

    @staticmethod
    def can_order(actor: Actor, village_id: int) -> bool:
        residence = actor.residence
        return bool(
            actor.is_approved_resident and residence and residence.village_id == village_id
        )

    @staticmethod
    def can_hand_over(actor: Actor, order: ShopOrder, keeper_villages: Collection[int]) -> bool:
        """The keepers of the order's village (and its admins); never another village's."""
        return order.village_id in set(keeper_villages) or OrgPermissions.can_administer(
            actor, order.village_id
        )

    @classmethod
    def can_cancel(cls, actor: Actor, order: ShopOrder, keeper_villages: Collection[int]) -> bool:
        """Its household (while it waits), or whoever may hand it over."""
        residence = actor.residence
        own = bool(
            actor.is_approved_resident
            and residence
            and residence.household_id == order.household_id
        )
        return own or cls.can_hand_over(actor, order, keeper_villages)
