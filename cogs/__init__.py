"""Thin Discord adapters: each module is one extension loaded by the bot."""
