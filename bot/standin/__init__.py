"""A local stand-in for Discord that the real, unpatched discord.py client connects to.

Modules:

* ``server`` – :class:`~bot.standin.server.StandIn`: the aiohttp server (REST under
  ``/api/v10``, gateway at ``/gateway``, files at ``/attachments``), the world state and the
  helpers that play Discord's client side (``invoke``, ``press_button``, ``select``,
  ``submit_modal``, ``autocomplete``), observers, transcript and failure injection.
* ``model`` – guilds, roles, channels, threads, members, users, messages (``payload()`` renders
  Discord's JSON); user actions such as ``await member.post_message(channel, "hi")``.
* ``interactions`` – the :class:`~bot.standin.interactions.Interaction` record/result and the
  checks of invocations against the synced command schema.
* ``gateway`` / ``rest`` / ``routing`` – the protocol: sessions, intents, resume; REST routes with
  Discord's error codes; routing and failure rules.
* ``harness`` – ``connect_client`` (start a discord.py client against a stand-in and wait for
  ``on_ready``) and ``checked_standin`` (a stand-in whose exit fails on unimplemented routes,
  unanswered interactions, unclosed sessions and destroyed pending tasks).
* ``openapi`` – request-body validation against Discord's OpenAPI description.

Typical use (tests or a plain script)::

    async with checked_standin() as standin:
        guild = standin.add_guild("Recovery Circle")
        general = guild.add_text_channel("general")
        alice = guild.add_member("alice")
        async with connect_client(standin, make_bot) as bot:
            answer = await standin.invoke(alice, "checkin start", {"mood": 3})
            assert answer.ephemeral and "Thanks" in answer.content
        print(standin.format_transcript())
"""
