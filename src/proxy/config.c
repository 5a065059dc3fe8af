/* Placeholder until the config module lands. */
#include "dpp/config.h"
