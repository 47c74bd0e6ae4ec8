// Test processes log what goes wrong only: the service's own process writes its full log to
// a file (stack.serviceLog), and a passing run prints little more than the test names.
import { setLogLevel } from '../../src/log.js';

setLogLevel('warn');
