"""The core: jobs, providers, moderation and storage. It never imports discord.py."""
