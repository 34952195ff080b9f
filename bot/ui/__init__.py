"""The thin Discord layer: the bot class, pure rendering of jobs into messages and their buttons (drawn
here, answered by the extensions that own them), and the message editor. It never imports an extension."""
