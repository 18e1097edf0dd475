#include "cli/cli.h"

int main(int argc, char **argv)
{
    return recd_cli_main(argc, argv);
}
