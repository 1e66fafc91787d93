from server import address

assert address({}) == "localhost:8080"
assert address({"port": 9}) == "localhost:9"
