"""Photos and their detections: the hand detector, detection files, PhotoFolder."""
