"""`verify --gateway`: the restart contract on the real `openclaw gateway` process."""
