from bench.attribution.run import main

main()
