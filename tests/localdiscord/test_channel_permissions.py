"""Channel permission overwrites in the local Discord, in Discord's order: the guild's roles, then the
channel's @everyone overwrite, the member's roles' overwrites together, the member's own; nothing at all
without View Channel; owners and administrators see everything. The seeded #audit-log is staff only."""

from __future__ import annotations

from localdiscord._state import OVERWRITE_MEMBER, OVERWRITE_ROLE, Overwrite, Perm, World


def _world() -> World:
    return World(token="t", attachment_size_limit=1 << 20)


def _user(world: World, name: str) -> int:
    user = world.user_by_ref(name)
    assert user is not None
    return user.id


def test_audit_log_is_for_moderators_the_owner_and_the_bot() -> None:
    world = _world()
    audit = world.channel_by_ref("audit-log")
    general = world.channel_by_ref("general")
    assert audit is not None and general is not None
    for name in ("alice", "bob", "carol"):
        assert world.channel_permissions(audit, _user(world, name)) == 0
        assert world.channel_permissions(general, _user(world, name)) & Perm.VIEW_CHANNEL
    for name in ("mod", "owner"):
        assert world.channel_permissions(audit, _user(world, name)) & Perm.VIEW_CHANNEL
    bot = world.channel_permissions(audit, world.bot.id)
    assert bot & Perm.VIEW_CHANNEL and bot & Perm.SEND_MESSAGES
    # What the bot and a client read: the overwrites on the channel, the member's view in the state.
    wire = world.channel_dict(audit)["permission_overwrites"]
    assert {"id": str(world.guild.id), "type": 0, "allow": "0", "deny": str(Perm.VIEW_CHANNEL)} in wire
    summary = world.member_summary(world.guild.id, _user(world, "alice"))
    assert summary["channel_permissions"][str(audit.id)] == "0"


def test_overwrites_apply_in_discords_order() -> None:
    world = _world()
    channel = world.channel_by_ref("general")
    assert channel is not None
    alice, guild = _user(world, "alice"), world.guild
    helper = world.add_role("Helper", 0)
    guild.members[alice].role_ids.append(helper.id)
    # @everyone may not send; a role of hers may: the role wins over @everyone.
    channel.overwrites = [
        Overwrite(guild.id, OVERWRITE_ROLE, deny=Perm.SEND_MESSAGES),
        Overwrite(helper.id, OVERWRITE_ROLE, allow=Perm.SEND_MESSAGES),
    ]
    assert world.channel_permissions(channel, alice) & Perm.SEND_MESSAGES
    assert not world.channel_permissions(channel, _user(world, "bob")) & Perm.SEND_MESSAGES
    # Her own overwrite wins over her roles'.
    channel.overwrites.append(Overwrite(alice, OVERWRITE_MEMBER, deny=Perm.SEND_MESSAGES))
    assert not world.channel_permissions(channel, alice) & Perm.SEND_MESSAGES
    # Administrators are above overwrites.
    admin = world.add_role("Admin", Perm.ADMINISTRATOR)
    guild.members[alice].role_ids.append(admin.id)
    assert world.channel_permissions(channel, alice) == Perm.ALL
