from posts import post_url

assert post_url("Hello World") == "/posts/hello-world/", post_url("Hello World")
assert post_url("A Very Long Title Indeed") == "/posts/a-very-long-/"
