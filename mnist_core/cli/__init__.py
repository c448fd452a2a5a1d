"""The command line: python -m mnist_core train | continue | lrfind | labels | sweep | headtohead |
evaluate | predict | runs | export | bundle."""
