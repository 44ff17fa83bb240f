from bench.funnels.run import main

main()
