import Hummingbird
import HummingbirdTLS
import GRDB
