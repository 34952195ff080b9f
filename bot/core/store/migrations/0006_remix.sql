-- A member's Remix setting (issue 11): when on, pressing Vary, Pan or 🔄 opens the prompt for editing
-- first. 0: off, as every member had it before.
ALTER TABLE member_settings ADD COLUMN remix INTEGER NOT NULL DEFAULT 0;
