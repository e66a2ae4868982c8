from samg_video.cli import main

main()
