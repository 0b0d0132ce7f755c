{ app.name = "theirs"; }
