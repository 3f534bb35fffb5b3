"""Feedback text: templates now; a language model through llama.cpp when a bundle carries one."""
