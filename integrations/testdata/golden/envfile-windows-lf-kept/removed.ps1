# dot-sourced from $PROFILE
$env:OTHER = "1"
