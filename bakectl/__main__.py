from bakectl.cli import main

main()
