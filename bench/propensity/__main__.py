from bench.propensity.run import main

main()
