"""Full screens: the main job view, the composer, the job details."""
