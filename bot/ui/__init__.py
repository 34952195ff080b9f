"""The thin Discord layer: buttons, pure rendering of jobs into messages, and the message editor."""
