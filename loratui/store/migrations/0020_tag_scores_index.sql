-- Tagger scores remember the model output index of each tag, so re-thresholding without the model
-- orders tags exactly as the tagger does (selected_tags.csv order).
ALTER TABLE tag_scores ADD COLUMN idx INTEGER;
CREATE INDEX tag_scores_model ON tag_scores (model, image_id);
