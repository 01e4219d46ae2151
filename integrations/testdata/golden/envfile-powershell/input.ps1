$env:OTHER = "1"
