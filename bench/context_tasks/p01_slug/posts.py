from slugs import slugify


def post_url(title: str) -> str:
    # gen: return "/posts/" + the slug of title with at most 12 characters + "/"
