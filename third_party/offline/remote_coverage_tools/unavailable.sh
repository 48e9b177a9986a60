#!/bin/sh
echo "coverage tools are not available offline (rules_nixstore stand-in for @remote_coverage_tools)" >&2
exit 1
