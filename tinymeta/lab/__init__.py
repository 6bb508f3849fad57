"""tinymeta's machinery: everything besides the model, the tasks and the algorithms."""
