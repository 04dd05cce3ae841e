-- Keep the winner of a checkpoint sweep (issue 16): the checkpoint the user chose in a sweep grid is marked in the
-- library, with the sweep folder it was chosen in (its images are the model card's previews). One chosen
-- checkpoint per sweep folder: choosing another clears the mark of the previous one.
ALTER TABLE loras ADD COLUMN chosen_at REAL;
ALTER TABLE loras ADD COLUMN sweep_folder TEXT;
CREATE INDEX loras_sweep_folder ON loras(sweep_folder) WHERE sweep_folder IS NOT NULL;
