-- Caption writes that cannot lose an update or a byte (issue 13).
-- sha256 of the caption file's bytes as loratui last read or wrote them: a write goes ahead only while the file
-- still holds exactly these bytes. NULL: no file, or indexed before this migration (then the text is compared).
ALTER TABLE images ADD COLUMN caption_sha256 TEXT;
-- The exact bytes of each side of a caption change, stored only where they differ from the side's text in UTF-8
-- (a BOM, UTF-16, cp1252, latin-1): NULL means the UTF-8 of text_before / text_after.
ALTER TABLE changes ADD COLUMN bytes_before BLOB;
ALTER TABLE changes ADD COLUMN bytes_after BLOB;
-- 1: both sides' bytes are known exactly (read from the file before it was replaced). 0: journaled before this
-- migration, or interrupted before its file was read; such a change is compared by text, as before.
ALTER TABLE changes ADD COLUMN exact INTEGER NOT NULL DEFAULT 0;
