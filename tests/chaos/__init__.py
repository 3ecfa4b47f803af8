"""The chaos run: kill -9 each part of the running stack under load and judge what was kept."""
