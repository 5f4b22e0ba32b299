from .served_by import current_instance, current_release


def served_by(request):
    return {"herd_release": current_release(), "herd_instance": current_instance()}
