"""Terminal graphics protocols: which one a terminal speaks (``detect``) and how to send it an image (``encode``).

Pure functions of the environment, bytes and Pillow images; nothing here talks to a terminal or imports Textual.
"""
