"""Guqin jianzipu on the host: character image rendering, the image reader's training and evaluation,
and question-and-answer data for the feedback language model."""
