from datacloner.cli import main

main()
