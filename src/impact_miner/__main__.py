from impact_miner.cli import main

main()
