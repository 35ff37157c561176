"""One module per command: `register` adds its parser, which names the function that runs it."""
