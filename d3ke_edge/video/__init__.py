"""Real video in: BlazePose's person detector and landmark models (fetched from the mediapipe wheel, run by LiteRT,
decoded by our own code) as the front end that finds the person in a frame."""
