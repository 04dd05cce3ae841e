-- Undo/redo and crash recovery for the caption journal (issue 5).
-- action: what a 'pending' operation is doing (apply, undo, redo); pid/proc_key: the process doing it,
-- so a live operation is never mistaken for one interrupted by a crash.
ALTER TABLE operations ADD COLUMN action TEXT NOT NULL DEFAULT 'apply';
ALTER TABLE operations ADD COLUMN pid INTEGER;
ALTER TABLE operations ADD COLUMN proc_key TEXT;
-- mtime of the caption file after undo restored text_before (detects outside edits before a redo).
ALTER TABLE changes ADD COLUMN mtime_ns_before INTEGER;
CREATE INDEX operations_dataset_state ON operations (dataset_id, state, id);
-- 1: an undone operation that can no longer be redone (a newer operation was applied after its undo).
ALTER TABLE operations ADD COLUMN discarded INTEGER NOT NULL DEFAULT 0;
